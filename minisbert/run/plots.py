"""Pictures of a training run: the loss per step and the dev metric per evaluation (matplotlib).

Uses matplotlib's object API (`Figure`) rather than pyplot, so it never changes the user's
backend and works without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def smooth(values: list[float], window: int) -> np.ndarray:
    """Moving average over `window` steps (shorter at the start)."""
    x = np.asarray(values, dtype=np.float64)
    cumsum = np.cumsum(np.r_[0.0, x])
    starts = np.maximum(np.arange(1, len(x) + 1) - window, 0)
    return (cumsum[1:] - cumsum[starts]) / (np.arange(1, len(x) + 1) - starts)


def plot_training(log: dict, folder: str | Path) -> list[Path]:
    """Write loss.png (and dev_metric.png when the run was evaluated) into `folder`."""
    from matplotlib.figure import Figure

    folder = Path(folder)
    written = []
    steps = [entry["step"] for entry in log["train"]]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for name in log["objectives"]:
        values = [entry["loss"][name] for entry in log["train"]]
        ax.plot(steps, values, alpha=0.3, lw=0.8)
        ax.plot(steps, smooth(values, 20), label=f"{name} (moving average of 20)")
    ax.set(xlabel="step", ylabel="training loss", title="training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "loss.png", dpi=110)
    written.append(folder / "loss.png")
    if log["eval"]:
        metrics = [k for k in log["eval"][0] if k != "step"]
        main = log.get("main_metric") or metrics[0]
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        ax.plot([e["step"] for e in log["eval"]], [e[main] for e in log["eval"]], marker="o")
        ax.set(xlabel="step", ylabel=main, title=f"dev {main}")
        fig.tight_layout()
        fig.savefig(folder / "dev_metric.png", dpi=110)
        written.append(folder / "dev_metric.png")
    return written
