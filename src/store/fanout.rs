//! Parallel listing by prefix fan-out, shared by the S3 and GCS backends. A listing pays one round trip per page
//! of 1,000 keys, one after the other, because each page's token comes from the one before. Listed with the `/`
//! delimiter, the prefix's first level comes back as its own objects plus its sub-prefixes ("folders"); each
//! sub-prefix is then listed flat, up to [`FAN_OUT`] at a time. A bucket laid out in folders (`dags/team_a/`,
//! `data/2024/...`) is so listed in about two round trips plus its largest folder's pages, instead of one round
//! trip per 1,000 keys of the whole prefix. Every key under the prefix is in exactly one part: either it has no
//! `/` after the prefix (the first level's objects) or it starts with exactly one sub-prefix.
use std::future::Future;

use futures::{StreamExt, TryStreamExt};

use super::{ObjectMeta, StoreError};

/// How many sub-prefixes are listed at once.
pub const FAN_OUT: usize = 16;

/// All pages of one listing: the objects (keys relative to the store's prefix) and, when listed with the `/`
/// delimiter, the sub-prefixes as the backend names them (full keys, to list next).
#[derive(Debug, Default)]
pub struct Level {
    pub objects: Vec<ObjectMeta>,
    pub prefixes: Vec<String>,
}

/// Lists `prefix` (a full key prefix) with `pages(prefix, true)` (a delimited listing), then every sub-prefix
/// with `pages(sub, false)` (flat), [`FAN_OUT`] at a time. The result is sorted by key.
pub async fn list<P, PF>(prefix: String, pages: P) -> Result<Vec<ObjectMeta>, StoreError>
where
    P: Fn(String, bool) -> PF,
    PF: Future<Output = Result<Level, StoreError>>,
{
    let level = pages(prefix, true).await?;
    let mut objects = level.objects;
    let mut below =
        futures::stream::iter(level.prefixes.into_iter().map(|sub| pages(sub, false))).buffer_unordered(FAN_OUT);
    while let Some(part) = below.try_next().await? {
        objects.extend(part.objects);
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(objects)
}

/// All pages of one flat listing of `prefix` (`pages(prefix, false)`), sorted by key: no fan-out.
pub async fn flat<P, PF>(prefix: String, pages: P) -> Result<Vec<ObjectMeta>, StoreError>
where
    P: Fn(String, bool) -> PF,
    PF: Future<Output = Result<Level, StoreError>>,
{
    let mut objects = pages(prefix, false).await?.objects;
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str) -> ObjectMeta {
        ObjectMeta { key: key.into(), size: 1, md5: None, version: "v".into(), version_id: None, modified: None }
    }

    /// A fake bucket answering delimited and flat listings the way S3 and GCS do.
    fn pages(keys: &[&str], prefix: &str, delimited: bool) -> Result<Level, StoreError> {
        let mut level = Level::default();
        for key in keys.iter().filter(|key| key.starts_with(prefix)) {
            match key[prefix.len()..].find('/').filter(|_| delimited) {
                Some(at) => {
                    let sub = key[..prefix.len() + at + 1].to_string();
                    if !level.prefixes.contains(&sub) {
                        level.prefixes.push(sub);
                    }
                }
                None => level.objects.push(meta(key)),
            }
        }
        Ok(level)
    }

    #[tokio::test]
    async fn fan_out_lists_every_key_once_whatever_the_layout() {
        let keys = [
            "dags/",
            "dags/a.py",
            "dags/team/x.py",
            "dags/team/deep/y.py",
            "dags//double.py",
            "dags/other/z.py",
            "dagsX/not-under.py",
            "plugins/p.py",
        ];
        let listed = list("dags/".to_string(), |prefix, delimited| async move { pages(&keys, &prefix, delimited) })
            .await
            .unwrap();
        let names: Vec<&str> = listed.iter().map(|object| object.key.as_str()).collect();
        assert_eq!(
            names,
            ["dags/", "dags//double.py", "dags/a.py", "dags/other/z.py", "dags/team/deep/y.py", "dags/team/x.py"]
        );
    }

    #[tokio::test]
    async fn a_failed_sub_listing_fails_the_whole_listing() {
        let keys = ["dags/a/1", "dags/b/2"];
        let result = list("dags/".to_string(), |prefix, delimited| async move {
            if prefix == "dags/b/" {
                Err(StoreError::new(super::super::StoreErrorKind::Transient, "list", prefix, "boom"))
            } else {
                pages(&keys, &prefix, delimited)
            }
        })
        .await;
        assert!(result.is_err(), "a listing with a failed part must not pass for the whole bucket");
    }
}
