"""What rules may talk about: fact fields, configuration parameters, actions.

The rule language is closed: a condition names only these fields and
parameters, an action only these verbs. ``deprules rules vocabulary`` prints it.
"""

from __future__ import annotations

# field -> (type, description). Types: str, int, bool, money, date
FIELDS: dict[str, tuple[str, str]] = {
    "sa.sa_id": ("str", "the SA's id"),
    "sa.sa_type": ("str", "the SA type code"),
    "sa.status": ("str", "SA status name: pending_start, active, pending_stop, stopped, "
                  "reactivated, closed, canceled"),
    "sa.is_cash_deposit": ("bool", "the SA type's special role is cash_deposit"),
    "sa.deposit_class": ("str", "the deposit class the SA type names"),
    "sa.start_date": ("date", "SA start date"),
    "sa.stop_date": ("date", "SA stop date (0 when none)"),
    "sa.stop_date_reached": ("bool", "the SA has a stop date on or before the process date"),
    "sa.payoff_balance": ("money", "payoff balance (negative = credit)"),
    "sa.current_balance": ("money", "current balance"),
    "sa.sync_difference": ("money", "payoff balance minus current balance"),
    "sa.months_held": ("int", "whole calendar months from start date to process date"),
    "sa.days_held": ("int", "days from start date to stop date (or to the process date)"),
    "sa.interest_settled": ("bool", "interest has been settled up to the stop date"),
    "sa.interest_periods_due": ("int", "DEPINTRF: completed periods of the class's "
                                "months_between_interest since the last interest date, not "
                                "yet settled (0 without periodic interest; a period ending "
                                "before min_days_held days of holding is not counted)"),
    "sa.final_bill": ("str", "final bill status: none, frozen, complete"),
    "sa.refund_method_applied": ("bool", "the deposit class's refund method has run"),
    "sa.days_past_due": ("int", "days from the final bill's due date to the process date "
                         "(-99999 without one)"),
    "sa.has_active_ncd": ("bool", "the account has an active non-cash deposit in this class"),
    "sa.open_depref_todo": ("bool", "an open DEPREF To Do exists for the SA"),
    "sa.other_same_class_sas": ("int", "the account's other SAs whose SA type names the same "
                                "deposit class"),
    "sa.other_same_class_unfinished": ("int", "how many of those are not stopped, closed or "
                                       "canceled"),
    "account.account_id": ("str", "the account's id"),
    "account.customer_class": ("str", "customer class code"),
    "account.credit_rating": ("int", "credit rating"),
    "account.late_payments_12m": ("int", "late payments in the last 12 months (missing = 0)"),
    "account.do_not_refund": ("bool", "the Do Not Review or Refund switch"),
    "account.postponed": ("bool", "the process date is before the account's cc_postpone_date"),
    "process_date": ("date", "the process date of the run"),
}

# parameter -> (type, description); resolved from configuration per deposit class
# (deposit_class.*) or per customer class's write-off control (write_off.*)
PARAMS: dict[str, tuple[str, str]] = {
    "installation.credit_rating_threshold": ("int", "good customer at or above this rating"),
    "deposit_class.code": ("str", "deposit class code"),
    "deposit_class.refund_criteria.algorithm": ("str", "REFUND-RES, REFUND-COM or DEPREFUND-NO"),
    "deposit_class.refund_criteria.hold_months": ("int", "months a deposit is held"),
    "deposit_class.good_customer.algorithm": ("str", "CREDITRATING, BADCUST or LATEPAYMENTS"),
    "deposit_class.good_customer.max_late_payments": ("int", "LATEPAYMENTS limit"),
    "deposit_class.refund_method.algorithm": ("str", "APPLYDEPOSIT or DEPREF-TODO"),
    "deposit_class.interest.algorithm": ("str", "REFUNDINT, or NONE without interest"),
    "deposit_class.interest.min_days_held": ("int", "no interest below this many days held"),
    "deposit_class.months_between_interest": ("int", "months between periodic interest "
                                              "postings (DEPINTRF); 0 when not set"),
    "write_off.grace_days": ("int", "days after the final bill's due date before WPM looks"),
}
# write-off criteria: write_off.<alias>.<param>; alias -> algorithm
CRITERIA_ALIASES = {
    "ncd": "WO-CRIT-NCD",
    "writedown": "WO-WRITEDOWN",
    "ap_refund": "WO-AP-ADJ",
    "default": "WO-CRIT-DFLT",
}
for _alias, _alg in CRITERIA_ALIASES.items():
    PARAMS[f"write_off.{_alias}.position"] = ("int", f"position of {_alg} in the control")
    PARAMS[f"write_off.{_alias}.todo_type"] = ("str", f"{_alg}'s To Do type")
PARAMS["write_off.writedown.lower"] = ("money", "write-down band lower bound (exclusive)")
PARAMS["write_off.writedown.upper"] = ("money", "write-down band upper bound (exclusive)")
PARAMS["write_off.ap_refund.min_refund"] = ("money", "smallest credit refunded by check")

# action -> (allowed argument names, description)
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "set_status": (frozenset({"to", "stop_date"}), "move the SA to a status (legal moves only)"),
    "post_interest": (frozenset(), "REFUNDINT interest to the stop date, settling the period"),
    "post_periodic_interest": (frozenset(), "DEPINTRF: REFUNDINT interest for each completed "
                               "period since the last interest date, one settlement per "
                               "period in date order"),
    "create_adjustment": (frozenset({"category", "amount"}),
                          "create and freeze an adjustment of the category's batch type "
                          "(an ap_refund adjustment also requests a check)"),
    "create_todo": (frozenset({"type"}), "create a To Do (never a second open one per type)"),
    "create_final_bill": (frozenset(), "a final bill segment for the current balance, frozen"),
    "apply_deposit_to_debt": (frozenset(), "APPLYDEPOSIT: transfer the credit to same-class "
                              "debt in distribution order"),
    "mark_refund_method_applied": (frozenset(), "record that the refund method has run"),
    "complete_bill": (frozenset(), "complete the final bill (sets its due date)"),
    "close_sa": (frozenset(), "close the SA (both balances must be zero)"),
}

STATUSES = ("pending_start", "active", "pending_stop", "stopped", "reactivated", "closed",
            "canceled")
PROCESSES = ("DEPINTRF", "DEPRFND", "SAACT", "STOP", "BILLING", "WPM")
CATEGORIES = ("deposit_interest", "sync_up", "transfer", "ap_refund", "current_only",
              "write_down", "deposit_charge")
