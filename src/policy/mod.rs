//! Recording policy: providers and their plans (so far), and what each plan promises about
//! retention. Pure types, no IO; organisations, locations and users come with the policy work.

pub mod plan;
