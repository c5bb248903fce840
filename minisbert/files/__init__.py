"""Writing files and folders so that a crash at any moment leaves the old content or the new, never a part.

atomic    files and folders written beside their target, then renamed or swapped in
saving    a model folder saved that way (`SentenceEncoder.save_pretrained`)
"""
