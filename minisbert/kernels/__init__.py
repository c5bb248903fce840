"""Faster ways to run the same model on the CPU, each a visible choice.

unpadding      training's linear layers on the real tokens only
packed_linear  encoding's linear layers on weights packed for oneDNN (fp32) or quantised (int8)
threads        how idle CPU threads wait, so that a busy machine does not stall them
"""
