//! S3 listings name no MD5, only ETags, and an ETag is the content's MD5 only for single-part uploads without
//! SSE-KMS, DSSE-KMS or SSE-C encryption. Objects dagship wrote are recognised by their recorded ETag (the
//! marker keeps each object's ETag and MD5), but an object the marker does not record at its listed ETag (what a
//! deploy that stopped part-way wrote, a console upload) has only its ETag to go by. On a bucket whose ETags are
//! not MD5s that value is taken for a content hash that matches nothing: the plan re-uploads the object, and
//! drift takes what an unfinished deploy wrote for a hand edit, refusing the very deploy that would repair it.
//!
//! So when the marker shows that this bucket's ETags are not MD5s and drift would refuse the deploy, the objects
//! the refusal names are read and hashed (one GET each; the version served must be the one listed, else its MD5
//! stays unknown) and the plan is made again with their true MD5s. Nothing else is read: objects the marker
//! vouches for have its MD5, and any other unrecorded object is at worst uploaded again (the bytes are the same)
//! or reported as drift under a `report` policy.
use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};

use super::marker::Marker;
use crate::hash::Md5;
use crate::store::{ObjectMeta, Store, StoreError, md5_of_etag};

/// Objects read at once.
const READS_IN_FLIGHT: usize = 16;

/// Whether the marker saw ETags that are not their object's MD5 (a single-part ETag is 32 hex digits; a
/// multipart one ends in `-N` and is never taken for an MD5 anyway).
pub fn etags_are_not_md5s(marker: Option<&Marker>) -> bool {
    marker.is_some_and(|marker| {
        marker.objects.values().any(|record| md5_of_etag(&record.version).is_some_and(|etag| etag != record.md5))
    })
}

/// Replaces the ETag-derived MD5 of the listed objects named in `keys` by the MD5 of their bytes (or by none,
/// when an object changed between the listing and the read).
pub async fn hash_objects(
    store: &dyn Store,
    keys: &BTreeSet<String>,
    listings: &mut [Vec<ObjectMeta>],
) -> Result<(), StoreError> {
    let named = listings.iter_mut().flatten().filter(|object| keys.contains(&object.key));
    futures::stream::iter(named)
        .map(|object| async move {
            let served = store.get_versioned(&object.key).await?;
            object.md5 =
                served.filter(|served| served.version == object.version).map(|served| Md5::of_bytes(&served.bytes));
            Ok::<(), StoreError>(())
        })
        .buffer_unordered(READS_IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::marker::ObjectRecord;
    use std::collections::BTreeMap;

    fn marker(records: &[(&str, &str, &str)]) -> Marker {
        let objects: BTreeMap<String, ObjectRecord> = records
            .iter()
            .map(|(key, content, etag)| {
                let record = ObjectRecord {
                    md5: Md5::of_bytes(content.as_bytes()),
                    size: content.len() as u64,
                    version: etag.to_string(),
                    version_id: None,
                    content: None,
                };
                (key.to_string(), record)
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "environment": "test", "commit": "c", "deployed_at": "t", "tool_version": "0", "objects": objects,
        }))
        .unwrap()
    }

    #[test]
    fn only_a_single_part_etag_that_differs_from_its_md5_tells_a_bucket_whose_etags_are_not_md5s() {
        let md5_of_a = format!("\"{}\"", Md5::of_bytes(b"a").to_hex());
        assert!(!etags_are_not_md5s(None));
        assert!(!etags_are_not_md5s(Some(&marker(&[("dags/a.py", "a", &md5_of_a)]))));
        assert!(!etags_are_not_md5s(Some(&marker(&[("dags/a.py", "a", "\"0123456789abcdef0123456789abcdef-2\"")]))));
        let kms = "\"fedcba9876543210fedcba9876543210\"";
        assert!(etags_are_not_md5s(Some(&marker(&[("dags/a.py", "a", &md5_of_a), ("dags/b.py", "b", kms)]))));
    }
}
