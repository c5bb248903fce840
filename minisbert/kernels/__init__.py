"""Faster ways to run the same model on the CPU, each a module you choose and `print` shows.

linears        putting another kind of linear layer in every `nn.Linear`'s place, same weights
packed_linear  encoding's linear layers on weights packed for oneDNN (fp32) or quantised (int8)
unpadding      training's linear layers on the real tokens only
threads        how idle CPU threads wait, so that a busy machine does not stall them
"""
