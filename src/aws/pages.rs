//! Every page of an AWS list call. The SDK's own paginators would bypass
//! [`Aws::call`](super::Aws::call), which counts calls and maps errors;
//! this asks for one page at a time through it until the token runs out.

use std::future::Future;

use super::AwsError;

/// The items of every page: `fetch(token)` asks for one page and returns
/// its items and the next token. An empty token ends it too (EC2 sends
/// `""` on the last page of some calls).
pub async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let (page, next) = fetch(token).await?;
        items.extend(page);
        token = next.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(items);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_followed_until_the_token_runs_out_or_is_empty() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        // Three pages, the last with an empty token.
        let mut asked = Vec::new();
        let items = runtime
            .block_on(all_pages(|token: Option<String>| {
                asked.push(token.clone());
                let page = match token.as_deref() {
                    None => (vec![1, 2], Some("a".to_owned())),
                    Some("a") => (vec![3], Some("b".to_owned())),
                    _ => (vec![4], Some(String::new())),
                };
                async move { Ok::<_, AwsError>(page) }
            }))
            .expect("pages");
        assert_eq!(items, [1, 2, 3, 4]);
        assert_eq!(asked, [None, Some("a".to_owned()), Some("b".to_owned())]);
        // An error on any page is the call's error.
        let failed = runtime.block_on(all_pages(|token: Option<String>| async move {
            match token {
                None => Ok((vec![1], Some("a".to_owned()))),
                Some(_) => Err(AwsError::NoRegion),
            }
        }));
        assert!(matches!(failed, Err(AwsError::NoRegion)));
    }
}
