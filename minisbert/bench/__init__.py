"""`minisbert bench`: throughput beside the NumPy reference, sentence-transformers and ONNX Runtime.

onnx_runtime   ONNX Runtime as a contender
throughput     encoding and training throughput, the tables `minisbert bench` prints
trainer_steps  optimizer steps/s: minisbert's `Trainer` against a plain PyTorch loop
"""
