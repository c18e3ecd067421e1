//! What can be done to a location: choose its vendor. Must never decide for a single user.

use crate::policy::change::Change;
use crate::policy::error::PolicyError;
use crate::policy::location::Location;
use crate::policy::model::LocationProvider;
use crate::policy::organisation::Organisation;

impl Location {
    /// Chooses the location's vendor (see [`Location::check_provider`] for what is refused).
    pub fn set_provider(
        &self,
        org: &Organisation,
        setting: LocationProvider,
    ) -> Result<Change, PolicyError> {
        self.check_org(org)?;
        let after = Location {
            provider: setting,
            ..self.clone()
        };
        after.check_provider(org)?;
        Ok(Change::location(self, after))
    }
}
