"""`python -m aecodec ...` runs the same command line as `aecodec ...`: for an environment whose
scripts folder is not on PATH, or to pick the interpreter (and so the installation) explicitly.

`main` is also the `aecodec` script's entry point: it imports the command line itself, so that
Ctrl-C during those imports (a third of a second) ends as every other interruption does, with
one line and exit code 130, not a traceback. Only Python's own start and `import aecodec`
(about 0.1 s together) come before it.
"""
import sys


def main() -> None:
    try:
        from .cli import main as command_line
    except KeyboardInterrupt:
        sys.stderr.write("aecodec: error: interrupted\n")
        sys.exit(130)  # 128 + SIGINT, as aecodec.cli reports it
    command_line()


if __name__ == "__main__":
    main()
