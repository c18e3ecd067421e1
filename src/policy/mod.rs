//! Recording policy: providers and their plans, what each plan promises about retention, and
//! which regions each provider serves. Pure types, no IO; organisations, locations and users
//! come with the policy work.

pub mod plan;
pub mod region;
