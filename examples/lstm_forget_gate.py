"""What input shuts an LSTM's forget gate?  Exact halfspaces, and one step nudged into them.

The LSTM in ``examples/data/lstm_forget_gate.keras`` was trained by real Keras
(``tests/train_lstm_forget_gate.py``) on "sum since the last reset": each step
is (value, reset flag), and the answer needs the cell state wiped at a reset,
so the forget gate should learn to shut when the flag is 1.

Given the state before a step, every forget-gate unit is
``sigmoid(x_t . w + s)``, so "unit j is shut (<= 0.4)" is an exact halfspace in
``x_t``.  The script prints them, checks where the reset flag alone lands,
nudges one step of a sequence to the nearest input that shuts the units a
reset shuts, and plots the forget gate over time before and after.

Run: ``python examples/lstm_forget_gate.py --out out``
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import symrecon as sr  # noqa: E402

MODEL = Path(__file__).resolve().parent / "data" / "lstm_forget_gate.keras"
SHUT = 0.4  # "shut": forget gate at most 0.4 (keeps at most 40 % of the cell state)


def shut_regions(lstm, h_prev):
    """One region per forget unit (at this state), printed as its halfspace."""
    regions = []
    for j in range(lstm.units):
        region = sr.gate_region(lstm, "forget", j, below=SHUT, h_prev=h_prev)
        if region.is_empty or region.always:
            print(f"  unit {j}: {region.reason}")
        else:
            (a, rhs), = [(c.a, c.rhs) for c in region.conditions]
            print(f"  unit {j}: f_{j} <= {SHUT}  <=>  {a[0]:+.4f} value {a[1]:+.4f} reset <= {rhs:+.4f}")
        regions.append(region)
    return regions


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model = sr.load_keras(MODEL)
    lstm = model.layers[0]
    rng = np.random.default_rng(3)
    x = np.stack([rng.uniform(-1, 1, size=12), np.zeros(12)], axis=-1)[None]  # no reset in the sequence
    t_nudge = 6
    before = sr.gate_values(lstm, x)
    h_prev = before.h[0, t_nudge - 1]
    print(f"LSTM {lstm.n_in}->{lstm.units}; state before step {t_nudge}: h = {np.round(h_prev, 3).tolist()}")
    print(f"forget-gate units shut (<= {SHUT}) exactly on these halfspaces of x_t = (value, reset):")
    regions = shut_regions(lstm, h_prev)
    reset_step = np.array([0.0, 1.0])
    shut_by_reset = [bool(r.contains(reset_step)) for r in regions]
    print(f"a plain reset step (value 0, flag 1) lies in the shut region of units "
          f"{[j for j, s in enumerate(shut_by_reset) if s]}")

    chosen = [j for j, s in enumerate(shut_by_reset) if s] or [next(
        j for j, r in enumerate(regions) if not (r.is_empty or r.always))]
    together = sr.gate_region(lstm, "forget", chosen, below=SHUT, h_prev=h_prev)
    print(f"units {chosen} together: {together.latex()}")
    nudged_step = together.nearest(x[0, t_nudge])
    print(f"step {t_nudge}: x_t = {np.round(x[0, t_nudge], 4).tolist()} -> nearest shutting input "
          f"{np.round(nudged_step, 4).tolist()} (moved {np.linalg.norm(nudged_step - x[0, t_nudge]):.4f})")
    x_after = x.copy()
    x_after[0, t_nudge] = nudged_step
    after = sr.gate_values(lstm, x_after)
    f_at = after.gates["forget"][0, t_nudge]
    print(f"forget gate at step {t_nudge}: before {np.round(before.gates['forget'][0, t_nudge], 3).tolist()}, "
          f"after {np.round(f_at, 3).tolist()}")
    print(f"model output: before {model(x)[0, 0]:+.4f}, after {model(x_after)[0, 0]:+.4f}")
    together.derivation.save(out / "forget_gate_region.tex")

    fig, axes = plt.subplots(1, lstm.units, figsize=(3.2 * lstm.units, 3.2), sharey=True)
    steps = np.arange(x.shape[1])
    for j, ax in enumerate(np.atleast_1d(axes)):
        ax.plot(steps, before.gates["forget"][0, :, j], "o-", label="before")
        ax.plot(steps, after.gates["forget"][0, :, j], "s--", label="after nudge")
        ax.axvline(t_nudge, color="grey", linewidth=0.8)
        ax.axhline(SHUT, color="red", linewidth=0.8, linestyle=":")
        ax.set_title(f"forget unit {j}")
        ax.set_xlabel("step")
    np.atleast_1d(axes)[0].set_ylabel("forget gate value")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    fig.savefig(out / "forget_gate_nudge.png", dpi=110)
    print(f"wrote {out / 'forget_gate_nudge.png'} and {out / 'forget_gate_region.tex'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"))
    main(parser.parse_args().out)
