"""`python -m aecodec ...` runs the same command line as `aecodec ...`: for an environment whose
scripts folder is not on PATH, or to pick the interpreter (and so the installation) explicitly."""
from .cli import main

if __name__ == "__main__":
    main()
