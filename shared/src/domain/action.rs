//! The actions of `POST /api/v1`. An API key's scopes are sets of these names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! actions {
    ($($variant:ident => $name:literal, $spends:literal;)*) => {
        /// One action of the reseller API, named as the `action` field names it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Action {
            $(
                #[doc = concat!("`action=", $name, "`")]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in the seed's order (then kobo's own), also the scopes of an
            /// all-powerful key.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The wire name, as in `action=...` and in a key's scopes.
            pub const fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $name),* }
            }

            /// Whether the action can spend money (and so honours idempotency keys).
            pub const fn spends(self) -> bool {
                match self { $(Action::$variant => $spends),* }
            }
        }

        impl FromStr for Action {
            type Err = UnknownAction;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Action::$variant),)*
                    _ => Err(UnknownAction),
                }
            }
        }
    };
}

actions! {
    Services => "services", false;
    Add => "add", true;
    AddBulk => "add_bulk", true;
    Status => "status", false;
    Balance => "balance", false;
    Refill => "refill", false;
    RefillStatus => "refill_status", false;
    Cancel => "cancel", false;
    Deposit => "deposit", false;
    DepositStatus => "deposit_status", false;
    WithdrawOtp => "withdraw_otp", false;
    Withdraw => "withdraw", false;
    WithdrawalStatus => "withdrawal_status", false;
    VtuDataPlans => "vtu_data_plans", false;
    VtuSmePlans => "vtu_sme_plans", false;
    VtuCablePlans => "vtu_cable_plans", false;
    VtuElectricDiscos => "vtu_electric_discos", false;
    VtuCableVerify => "vtu_cable_verify", false;
    VtuElectricityVerify => "vtu_electricity_verify", false;
    VtuAirtime => "vtu_airtime", true;
    VtuData => "vtu_data", true;
    VtuSme => "vtu_sme", true;
    VtuCable => "vtu_cable", true;
    VtuElectricity => "vtu_electricity", true;
    VtuEducation => "vtu_education", true;
    VtuRechargeCard => "vtu_recharge_card", true;
    VtuStatus => "vtu_status", false;
    VtuAirtimeNetworks => "vtu_airtime_networks", false;
    VtuEducationProducts => "vtu_education_products", false;
    VtuRechargeCardNetworks => "vtu_recharge_card_networks", false;
    VtuEducationVerify => "vtu_education_verify", false;
}

/// The `action` field named no action kobo knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown action")]
pub struct UnknownAction;

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a comma- or space-separated scope list (`"services,add status"`); `all` or `*`
/// means every action.
pub fn parse_scopes(list: &str) -> Result<Vec<Action>, String> {
    let mut out = Vec::new();
    for word in list.split([',', ' ']).map(str::trim).filter(|w| !w.is_empty()) {
        if word == "all" || word == "*" {
            return Ok(Action::ALL.to_vec());
        }
        let action: Action = word.parse().map_err(|_| format!("unknown scope {word:?}"))?;
        if !out.contains(&action) {
            out.push(action);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(Action::ALL.len(), 31);
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(*a));
            assert_eq!(serde_json::to_string(a).unwrap_or_default(), format!("\"{a}\""));
        }
        assert_eq!("Balance".parse::<Action>(), Err(UnknownAction));
    }

    #[test]
    fn scope_lists() {
        assert_eq!(parse_scopes("balance, services balance"), Ok(vec![Action::Services, Action::Balance]));
        assert_eq!(parse_scopes("all").map(|v| v.len()), Ok(Action::ALL.len()));
        assert!(parse_scopes("balance,nope").is_err());
        assert_eq!(parse_scopes(""), Ok(vec![]));
    }
}
