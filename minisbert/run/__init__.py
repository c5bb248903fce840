"""A training run: what `minisbert train` adds around the core's training loop (training.py).

training_run  the run's `fit`: checkpoints and resume, the lock, several processes, the padding
              skipped, the log and plots, around the core's Trainer (RunTrainer)
distributed   training on several processes with torch.distributed, launched by torchrun
plots         pictures of a run: loss per step, dev metric per evaluation
checkpoints   written so that a crash at any moment leaves the last good one
run_lock      one training run at a time in a run folder
recipes       the SBERT paper's set-ups: for each objective, which data, loss and evaluators
"""
