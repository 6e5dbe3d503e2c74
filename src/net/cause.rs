//! Network errors as text that keeps their cause. reqwest's `Display` stops at its own layer
//! ("error sending request for url (...)"), dropping whether the connection was refused, timed
//! out or the name did not resolve; the user needs exactly that to fix an unreachable node.
//! Pure.

use std::error::Error;

/// An error and its causes, `outer: inner: innermost`, skipping a cause whose text the chain
/// already holds (hyper repeats some of its sources' messages).
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The chain of a failed HTTP request, without the URL (the message around it names the URL
/// already): e.g. `error sending request: client error (Connect): tcp connect error:
/// Connection refused (os error 111)`.
pub fn http(e: reqwest::Error) -> String {
    chain(&e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn causes_are_kept_in_order_without_repeats() {
        let dns = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "client error (Connect)",
                Some(Box::new(Layer(
                    "dns error: failed to lookup address information",
                    Some(Box::new(Layer(
                        "failed to lookup address information",
                        None,
                    ))),
                ))),
            ))),
        );
        assert_eq!(
            chain(&dns),
            "error sending request: client error (Connect): dns error: failed to lookup address information"
        );
        assert_eq!(chain(&Layer("alone", None)), "alone");
    }

    #[tokio::test]
    async fn a_closed_port_reads_as_connection_refused() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://127.0.0.1:{port}/status");
        let e = client.get(&url).send().await.unwrap_err();
        let text = http(e);
        assert!(text.contains("Connection refused"), "{text}");
        assert!(
            !text.contains(&url),
            "the URL is left to the message around it: {text}"
        );
    }

    #[tokio::test]
    async fn a_node_that_never_answers_reads_as_a_timeout() {
        // Accepted by the kernel's backlog, never answered.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_millis(300))
            .build()
            .unwrap();
        let e = client
            .get(format!("http://127.0.0.1:{port}/status"))
            .send()
            .await
            .unwrap_err();
        let text = http(e);
        assert!(text.contains("timed out"), "{text}");
        drop(listener);
    }
}
