//! Business profiles in Redis (one JSON string per user).

use super::*;

impl RedisStore {
    pub(in crate::store) async fn profile(&self, user: &str) -> Result<Profile, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(keys::profile(user));
        let json: Option<String> = self.command(cmd).await?;
        let json = json.ok_or_else(|| StoreError::NotFound(format!("profile {user}")))?;
        serde_json::from_str(&json).map_err(|_| corrupt("profile JSON"))
    }

    pub(in crate::store) async fn update_profile(
        &self,
        user: &str,
        patch: ProfilePatch,
        now_ms: u64,
    ) -> Result<Profile, StoreError> {
        let current = match self.profile(user).await {
            Ok(p) => p,
            Err(StoreError::NotFound(_)) => Profile {
                user: user.to_owned(),
                ..Profile::default()
            },
            Err(e) => return Err(e),
        };
        let mut updated = current.apply(patch)?;
        updated.updated_at_ms = now_ms;
        let json = serde_json::to_string(&updated).map_err(|e| corrupt(&e.to_string()))?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(keys::profile(user)).arg(json);
        self.command::<()>(cmd).await?;
        Ok(updated)
    }
}
