"""The four transforms of a mean-scale hyperprior (Minnen et al. 2018, no context model).

g_a: image -> y (stride 16)          g_s: y_hat -> image
h_a: y -> z (stride 4 on y)          h_s: z_hat -> (mean, log-scale) of y

h_s uses only convolutions and ReLU so that it can be re-run on integer weights
and activations in float64 (see aecodec.model.ExactHyperSynthesis), which is what
makes decoding bit-exact across machines.
"""
from __future__ import annotations

from torch import nn

from .gdn import GDN


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2,
                              output_padding=stride - 1)


def analysis(n: int, m: int) -> nn.Sequential:
    return nn.Sequential(conv(3, n), GDN(n), conv(n, n), GDN(n), conv(n, n), GDN(n), conv(n, m))


def synthesis(n: int, m: int) -> nn.Sequential:
    return nn.Sequential(deconv(m, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True),
                         deconv(n, n), GDN(n, inverse=True), deconv(n, 3))


def hyper_analysis(n: int, m: int) -> nn.Sequential:
    return nn.Sequential(conv(m, n, 3, 1), nn.ReLU(), conv(n, n), nn.ReLU(), conv(n, n))


def hyper_synthesis(n: int, m: int) -> nn.Sequential:
    mid = m * 3 // 2
    return nn.Sequential(deconv(n, m), nn.ReLU(), deconv(m, mid), nn.ReLU(),
                         conv(mid, 2 * m, 3, 1))
