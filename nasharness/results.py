"""RunResult: the single JSON-serializable record of a run (tracking, reports and regression tables read it)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import DataError


@dataclass
class RunResult:
    method: str
    bench: str
    dataset: str
    seed: int
    budget: str
    protocol: dict
    chosen: dict
    truth: dict[str, float]
    regret: dict[str, float]
    ranking: dict[str, dict]
    costs: dict[str, float]
    n_evaluated: int
    notes: list[str] = field(default_factory=list)
    trajectory: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    run_dir: str | None = None
    tracking: dict = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    #: Per ranking truth: the free baselines on the same architectures and the method's margin over the best of
    #: them (:func:`nasharness.metrics.baselines.free_baseline_report`).
    baselines: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def flat_metrics(self) -> dict[str, float]:
        """Every numeric result under its canonical name (for the tracker)."""
        m: dict[str, float] = {}
        for name, v in self.truth.items():
            m[f"chosen/{name}"] = v
        for name, v in self.regret.items():
            m[f"regret/{name}"] = v
        for name, r in self.ranking.items():
            for k, v in r.items():
                m[f"{name}" if k == "value" else f"{name}/{k}"] = v
        verdicts = {"beats": 1.0, "tie": 0.0, "loses": -1.0}
        for truth, rep in self.baselines.items():
            for base, entry in rep.get("free", {}).items():
                for k in ("kendall_tau", "spearman"):
                    m[f"free/{truth}/{base}/{k}"] = entry[k]["value"]
            for k, r in rep.get("margin", {}).items():
                m[f"margin/{truth}/{k}"] = r["value"]
                for edge in ("ci_low", "ci_high"):
                    if edge in r:
                        m[f"margin/{truth}/{k}/{edge}"] = r[edge]
            if rep.get("best"):
                m[f"free/{truth}/best/kendall_tau"] = rep["free"][rep["best"]]["kendall_tau"]["value"]
            if rep.get("verdict") in verdicts:
                m[f"margin/{truth}/beats_free"] = verdicts[rep["verdict"]]
        for name, v in self.costs.items():
            m[f"cost/{name}"] = v
        m["n_evaluated"] = self.n_evaluated
        m.update(self.extra)
        return m

    @classmethod
    def load(cls, path: str | Path) -> RunResult:
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise DataError(
                f"cannot read run result {str(path)!r} ({exc}); it is not a nasharness result.json."
            ) from exc
