//! Template spec versions (`Microsoft.Resources/templateSpecs/versions`): read one by id, as the
//! official Bicep CLI does when it restores a `ts:` module.

use azure_core::http::Method;

use super::arm::ArmClient;
use super::error::HttpError;

/// The API version of template specs: the one the official Bicep CLI's ARM SDK reads them with.
pub const API_VERSION: &str = "2022-02-01";

/// Reads template spec versions through an [`ArmClient`] made with [`API_VERSION`].
#[derive(Debug, Clone)]
pub struct TemplateSpecsClient {
    arm: ArmClient,
}

impl TemplateSpecsClient {
    pub fn new(arm: ArmClient) -> Self {
        TemplateSpecsClient { arm }
    }

    /// `GET` of a version by its resource id; the body exactly as ARM sent it (the official tool
    /// caches it unchanged).
    pub async fn get_version(&self, id: &str) -> Result<Vec<u8>, HttpError> {
        let url = self.arm.url(id)?;
        Ok(self.arm.expect(Method::Get, url, None, &[200]).await?.body)
    }
}
