"""One Codec shared by threads (a web server's workers, a thread pool) makes the same files and
pixels as the same calls made one after another."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def test_a_codec_shared_by_threads_gives_the_serial_results(codec, sample):
    crops = [sample.crop((x, y, x + 128, y + 96)) for x in (0, 300, 600) for y in (0, 200)]
    jobs = [(img, 8 + 15 * i, i % 2) for i, img in enumerate(crops)]  # qualities, efforts 0 and 1

    def encode(job):
        img, quality, effort = job
        return codec.compress(img, quality=quality, effort=effort)

    def decode(data):
        part = codec.decompress(data, region=(16, 8, 64, 48))
        return np.asarray(codec.decompress(data)), np.asarray(part)

    files = [encode(j) for j in jobs]
    pixels = [decode(d) for d in files]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(encode, jobs * 2)) == files * 2
        for (whole, part), (whole_t, part_t) in zip(pixels * 2, pool.map(decode, files * 2)):
            assert np.array_equal(whole, whole_t) and np.array_equal(part, part_t)
