"""The calibrated two-sided ReA: rule fitting and transfer, checked by hand."""
import pytest

from unlearning.attacks.calibration import apply_rule, calibrated_attack, fit_rule


def test_fit_rule_finds_the_faster_direction_and_a_midpoint_threshold():
    rule = fit_rule([10, 12, 14], [30, 40, 76])
    assert rule["higher_is_member"] is False
    assert rule["threshold"] == pytest.approx(22.0)  # midpoint of 14 and 30
    assert rule["shadow_balanced_accuracy"] == 1.0


def test_fit_rule_detects_a_reversed_signal():
    rule = fit_rule([60, 70, 76], [20, 25, 30])  # forgotten class relearned *slower* (amnesiac-like)
    assert rule["higher_is_member"] is True and rule["threshold"] == pytest.approx(45.0)


def test_apply_rule_hand_computed():
    rule = {"higher_is_member": False, "threshold": 22.0}
    out = apply_rule(rule, [10, 30, 20, 50], [25, 15, 60, 70])
    # members ≤ 22: 10, 20 → TPR 0.5; non-members ≤ 22: 15 → FPR 0.25
    assert out["tpr"] == 0.5 and out["fpr"] == 0.25 and out["balanced_accuracy"] == pytest.approx(0.625)
    # oriented AUC (lower = member): pairs member<non-member: 10:4, 30:2, 20:3, 50:2 → 11/16
    assert out["roc_auc"] == pytest.approx(11 / 16)


def test_chance_when_nothing_separates():
    rule = fit_rule([76, 76, 76], [76, 76, 76])
    out = apply_rule(rule, [76] * 5, [76] * 5)
    assert out["balanced_accuracy"] == 0.5 and out["roc_auc"] == 0.5


def test_calibrated_attack_pools_shadow_results():
    shadow = [{"per_lr": {"0.01": {"member_steps": [10], "non_member_steps": [30, 30]}}},
              {"per_lr": {"0.01": {"member_steps": [12], "non_member_steps": [40, 35]}}}]
    target = {"per_lr": {"0.01": {"member_steps": [11, 25], "non_member_steps": [33, 19]}}}
    out = calibrated_attack(shadow, target, "0.01")
    assert out["rule"]["threshold"] == pytest.approx(21.0)
    assert out["tpr"] == 0.5 and out["fpr"] == 0.5
