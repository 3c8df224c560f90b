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

    /// Read, patch, and write back only if nobody wrote in between (compare-and-set on the
    /// stored JSON); on a lost race, read again and re-apply, so concurrent updates of
    /// different fields all survive.
    pub(in crate::store) async fn update_profile(
        &self,
        user: &str,
        patch: ProfilePatch,
        now_ms: u64,
    ) -> Result<Profile, StoreError> {
        let key = keys::profile(user);
        for _ in 0..PROFILE_ATTEMPTS {
            let mut cmd = redis::cmd("GET");
            cmd.arg(&key);
            let stored: Option<String> = self.command(cmd).await?;
            let current = match &stored {
                Some(json) => serde_json::from_str(json).map_err(|_| corrupt("profile JSON"))?,
                None => Profile {
                    user: user.to_owned(),
                    ..Profile::default()
                },
            };
            let mut updated = current.apply(patch.clone())?;
            updated.updated_at_ms = now_ms;
            let json = serde_json::to_string(&updated).map_err(|e| corrupt(&e.to_string()))?;
            let expected = stored.unwrap_or_default();
            let written: i64 = self
                .redis
                .run(|mut c| {
                    let mut inv = scripts::SET_IF_UNCHANGED.key(&key);
                    inv.arg(&expected).arg(&json);
                    async move {
                        let r = inv.invoke_async(&mut c).await;
                        (c, r)
                    }
                })
                .await?;
            if written == 1 {
                return Ok(updated);
            }
        }
        Err(StoreError::Unavailable(format!(
            "profile {user} is being updated by others; retry"
        )))
    }
}

/// Compare-and-set rounds before a profile update gives up.
const PROFILE_ATTEMPTS: usize = 32;
