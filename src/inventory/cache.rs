//! The on-disk AMI cache. An AMI id names one immutable image, so its facts
//! are kept for ever; the file is per region and endpoint, because the same
//! id means nothing elsewhere. A cache that cannot be read or written is
//! only slower, never an error.

use crate::platform::files::{private_dir, write_atomically};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::model::host::Image;

#[derive(Debug, Default)]
pub struct AmiCache {
    path: Option<PathBuf>,
    images: BTreeMap<String, Image>,
    dirty: bool,
}

impl AmiCache {
    /// A cache that remembers nothing (for `--refresh` or no cache dir).
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Opens the cache for one region and endpoint under `dir`.
    pub fn open(dir: &Path, region: &str, endpoint: Option<&str>) -> Self {
        let scope: String = endpoint
            .map_or_else(|| "aws".to_owned(), |e| format!("endpoint-{e}"))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("amis-{region}-{scope}.json"));
        let images = fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self {
            path: Some(path),
            images,
            dirty: false,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Image> {
        self.images.get(id)
    }

    pub fn insert(&mut self, image: Image) {
        if self.path.is_some() {
            self.dirty = true;
            self.images.insert(image.id.clone(), image);
        }
    }

    /// Writes the cache back if it learned something, atomically (write a
    /// temporary file, then rename) so concurrent runs never read half a file.
    pub fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.dirty {
            return;
        }
        let Some(dir) = path.parent() else { return };
        let Ok(json) = serde_json::to_vec(&self.images) else {
            return;
        };
        // A cache that cannot be written is only a cache.
        let _ = private_dir(dir).and_then(|()| write_atomically(path, &json));
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_images_across_opens_per_scope() {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = Image {
            id: "ami-1".into(),
            name: Some("al2023-ami-ecs".into()),
            description: None,
            owner_id: None,
            platform: None,
        };
        let mut cache = AmiCache::open(dir.path(), "us-east-1", None);
        assert!(cache.get("ami-1").is_none());
        cache.insert(image.clone());
        cache.save();
        let reopened = AmiCache::open(dir.path(), "us-east-1", None);
        assert_eq!(reopened.get("ami-1"), Some(&image));
        let other_region = AmiCache::open(dir.path(), "eu-west-1", None);
        assert!(other_region.get("ami-1").is_none());
        let sandbox = AmiCache::open(dir.path(), "us-east-1", Some("http://127.0.0.1:5000"));
        assert!(sandbox.get("ami-1").is_none());
    }

    #[test]
    fn disabled_cache_keeps_nothing() {
        let mut cache = AmiCache::disabled();
        cache.insert(Image {
            id: "ami-1".into(),
            name: None,
            description: None,
            owner_id: None,
            platform: None,
        });
        assert!(cache.get("ami-1").is_none());
    }
}
