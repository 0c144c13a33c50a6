"""Training, evaluation and export of aecodec models. Nothing in the package imports this."""
