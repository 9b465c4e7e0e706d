"""Which one-shot cells the study compares at equal cost (nasharness.weightsharing.scoring.cost_matched_pairs)."""

from nasharness.weightsharing.scoring import cost_matched_pairs


def _cell(method, passes, epochs):
    return {"method": method, "passes": {passes}, "epochs": {epochs}}


def test_each_other_method_meets_spos_at_equal_passes_and_at_equal_epochs():
    cells = {"spos": _cell("spos", 9750, 50), "fairnas-epochs10": _cell("fairnas", 9750, 10),
             "scarlet-epochs10": _cell("scarlet", 9750, 10), "spos-epochs10": _cell("spos", 1950, 10),
             "fairnas": _cell("fairnas", 48750, 50)}
    assert cost_matched_pairs(cells) == [
        ("fairnas-epochs10", "spos", "passes"), ("fairnas-epochs10", "spos-epochs10", "epochs"),
        ("scarlet-epochs10", "spos", "passes"), ("scarlet-epochs10", "spos-epochs10", "epochs"),
        ("fairnas", "spos", "epochs"),
    ]


def test_unmatched_cells_meet_the_first_and_same_method_cells_are_not_paired():
    cells = {"spos": _cell("spos", 100, 1), "spos-long": _cell("spos", 200, 2), "fairnas": _cell("fairnas", 500, 1),
             "scarlet-odd": _cell("scarlet", 700, 3)}
    assert cost_matched_pairs(cells) == [("fairnas", "spos", "epochs"), ("scarlet-odd", "spos", "")]
    # a reference cell matching on both counts says so
    assert cost_matched_pairs({"spos": _cell("spos", 5, 5), "x": _cell("fairnas", 5, 5)}) == [
        ("x", "spos", "passes, epochs")]
    assert cost_matched_pairs({}) == []
