//! The ledger's arithmetic, free of the host and tested natively. Every movement of funds is an entry of one kind
//! against one bucket (a partner's allocation, or a tier's pool); a bucket's running totals are what its entries
//! add up to, and [`Totals::apply`] refuses any entry that would take a bucket below zero, so the stored totals and
//! a recomputation from the entries always agree.

use serde::{Deserialize, Serialize};

/// What an entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Funds put into the bucket.
    Allocation,
    /// Funds set aside for an approved request.
    Reservation,
    /// The unused part of a reservation given back.
    Release,
    /// A payment on a claim, out of its reservation.
    Reimbursement,
    /// Funds not reserved at the period's end, gone.
    Expiry,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Allocation => "allocation",
            Kind::Reservation => "reservation",
            Kind::Release => "release",
            Kind::Reimbursement => "reimbursement",
            Kind::Expiry => "expiry",
        }
    }
}

/// A bucket's running totals, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Totals {
    pub allocated: i64,
    pub reserved: i64,
    pub released: i64,
    pub reimbursed: i64,
    pub expired: i64,
}

impl Totals {
    /// Adds another bucket's totals to these (a budget's, a program's).
    pub fn add(&mut self, other: &Totals) {
        self.allocated += other.allocated;
        self.reserved += other.reserved;
        self.released += other.released;
        self.reimbursed += other.reimbursed;
        self.expired += other.expired;
    }

    /// What may still be reserved.
    pub fn available(&self) -> i64 {
        self.allocated - self.reserved + self.released - self.expired
    }

    /// Reserved and neither paid nor released yet.
    pub fn outstanding(&self) -> i64 {
        self.reserved - self.released - self.reimbursed
    }

    /// The totals after `amount` (positive) of `kind`; refused, in words, when it would take the available funds or
    /// the outstanding reservations below zero.
    pub fn apply(&self, kind: Kind, amount: i64) -> Result<Totals, String> {
        if amount <= 0 {
            return Err("an entry moves a positive amount".into());
        }
        let mut t = *self;
        match kind {
            Kind::Allocation => t.allocated += amount,
            Kind::Reservation => t.reserved += amount,
            Kind::Release => t.released += amount,
            Kind::Reimbursement => t.reimbursed += amount,
            Kind::Expiry => t.expired += amount,
        }
        if t.available() < 0 {
            return Err(format!("only {} is available", self.available()));
        }
        if t.outstanding() < 0 {
            return Err(format!("only {} is reserved", self.outstanding()));
        }
        Ok(t)
    }

    /// The totals of a list of entries, applied in order (the check that running totals are right).
    pub fn recompute(entries: impl IntoIterator<Item = (Kind, i64)>) -> Result<Totals, String> {
        let mut t = Totals::default();
        for (k, a) in entries {
            t = t.apply(k, a)?;
        }
        Ok(t)
    }
}

/// The share of a cost a fund reimburses: `pct` % of the spend, at most what was approved.
pub fn reimbursable(spend: i64, pct: u32, approved: i64) -> i64 {
    crate::money::percent_of(spend, pct).min(approved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_take_a_bucket_below_zero() {
        let t = Totals::default().apply(Kind::Allocation, 10_000).unwrap();
        let t = t.apply(Kind::Reservation, 6_000).unwrap();
        assert_eq!((t.available(), t.outstanding()), (4_000, 6_000));
        assert!(t.apply(Kind::Reservation, 4_001).unwrap_err().contains("only 4000 is available"));
        // Paid in two payments, the rest released: everything adds up.
        let t = t.apply(Kind::Reimbursement, 2_500).unwrap().apply(Kind::Reimbursement, 2_000).unwrap();
        assert!(t.apply(Kind::Reimbursement, 1_501).is_err(), "more than is reserved");
        let t = t.apply(Kind::Release, 1_500).unwrap();
        assert_eq!((t.available(), t.outstanding(), t.reimbursed), (5_500, 0, 4_500));
        // What is left expires at the period's end, and no more than that.
        assert!(t.apply(Kind::Expiry, 5_501).is_err());
        let t = t.apply(Kind::Expiry, 5_500).unwrap();
        assert_eq!(t.available(), 0);
        assert!(t.apply(Kind::Reservation, 0).is_err());
    }

    #[test]
    fn running_totals_equal_a_recomputation() {
        let entries = [
            (Kind::Allocation, 50_000),
            (Kind::Reservation, 20_000),
            (Kind::Reimbursement, 15_000),
            (Kind::Release, 5_000),
            (Kind::Expiry, 35_000),
        ];
        let mut running = Totals::default();
        for (k, a) in entries {
            running = running.apply(k, a).unwrap();
        }
        assert_eq!(Totals::recompute(entries).unwrap(), running);
        assert_eq!(reimbursable(10_000, 50, 4_000), 4_000);
        assert_eq!(reimbursable(5_000, 50, 4_000), 2_500);
    }
}
