//! Seeded hostile behaviour for the simulators: `POST /control/chaos {"seed": 7, "p": 0.1}`
//! makes each request hostile with probability `p`, in one of the ways its simulator
//! knows (chosen by the seeded generator, so a run's sequence is reproducible);
//! `{"p": 0}` turns it off. Each simulator's `GET /control/stats` reports the hostile
//! behaviours it injected under `"hostile"`.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{json, Value};

/// A simulator's hostile mode.
#[derive(Debug)]
pub struct Chaos {
    rng: StdRng,
    p: f64,
    injected: BTreeMap<&'static str, u64>,
}

impl Default for Chaos {
    fn default() -> Chaos {
        Chaos { rng: StdRng::seed_from_u64(0), p: 0.0, injected: BTreeMap::new() }
    }
}

/// `POST /control/chaos`'s body.
#[derive(Debug, Deserialize)]
pub struct ChaosRequest {
    /// Seed of the generator.
    #[serde(default)]
    pub seed: u64,
    /// Probability that a request is hostile.
    #[serde(default)]
    pub p: f64,
}

impl Chaos {
    /// Applies a `/control/chaos` request; what is now in force.
    pub fn set(&mut self, r: &ChaosRequest) -> Value {
        self.rng = StdRng::seed_from_u64(r.seed);
        self.p = r.p.clamp(0.0, 1.0);
        json!({"seed": r.seed, "p": self.p})
    }

    /// With probability `p`, one of `behaviours` (counted), else `None`.
    pub fn pick(&mut self, behaviours: &[&'static str]) -> Option<&'static str> {
        if self.p <= 0.0 || behaviours.is_empty() || !self.rng.random_bool(self.p) {
            return None;
        }
        let b = behaviours[self.rng.random_range(0..behaviours.len())];
        *self.injected.entry(b).or_default() += 1;
        Some(b)
    }

    /// What was injected, by behaviour.
    pub fn stats(&self) -> Value {
        json!(self.injected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_behaviours_and_zero_turns_it_off() {
        let run = |seed| {
            let mut c = Chaos::default();
            c.set(&ChaosRequest { seed, p: 0.5 });
            (0..200).map(|_| c.pick(&["a", "b", "c"])).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hostile = run(7).iter().filter(|b| b.is_some()).count();
        assert!((60..140).contains(&hostile), "about half: {hostile}");
        let mut off = Chaos::default();
        off.set(&ChaosRequest { seed: 7, p: 0.0 });
        assert!((0..100).all(|_| off.pick(&["a"]).is_none()));
    }
}
