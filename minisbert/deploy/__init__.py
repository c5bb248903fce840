"""Using a trained encoder at scale and elsewhere.

corpus  encoding a corpus too large for memory: a sentence a line in, a vector a row out
export  a sentence encoder to ONNX, for ONNX Runtime
"""
