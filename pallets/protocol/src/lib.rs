//! The training protocol as pure no std logic: round clock, fixed-point OpenSkill, incentives.
