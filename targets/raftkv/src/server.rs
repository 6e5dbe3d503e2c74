//! The client HTTP API (axum). Handlers only translate HTTP to [`NodeHandle`] calls and
//! results back to status codes; all decisions live in the Raft thread.
//!
//! | request | success | other answers |
//! |---|---|---|
//! | `GET /kv/{key}` | 200 `{"value": v}` | 404 `{"error":..}` never written |
//! | `PUT /kv/{key}` `{"value": v}` | 200 `{"ok": true}` | |
//! | `POST /kv/{key}/cas` `{"from": a, "to": b}` | 200 `{"ok": true}` | 409 `{"error":"precondition failed","current":v}` |
//! | `POST /txn` `[["append","x",1],["r","y",null]]` | 200 the list, reads filled in | 409 aborted (changed nothing) |
//! | `GET /status` | 200 id, role, term, leader, commit_index, last_applied, ... | |
//!
//! Errors common to all data requests, chosen so a client can tell "did not happen" from
//! "unknown":
//! - **307** (follower, leader's HTTP address known via `--peer-http`): `Location` points to the
//!   same path on the leader; the body names the leader. Nothing was done here.
//! - **421** (follower, leader known by id only): body `{"error":"not leader","leader":ID}`.
//!   Nothing was done.
//! - **503** no leader known, or the node is overloaded: nothing was done (definite failure).
//! - **500** the write was proposed but leadership was lost before it applied: unknown outcome.
//! - **504** no answer within the request timeout: unknown outcome for writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::node::{NodeHandle, Refusal};
use crate::raft::NodeId;
use crate::state_machine::{MicroOp, Op, Outcome};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The node.
    pub node: NodeHandle,
    /// Peer id → client HTTP address (`host:port`), for redirects; may be empty.
    pub peer_http: Arc<HashMap<NodeId, String>>,
    /// Longest time a request waits for the Raft thread.
    pub timeout: Duration,
}

/// Builds the router for the client API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/kv/{key}", get(get_kv).put(put_kv))
        .route("/kv/{key}/cas", post(cas_kv))
        .route("/txn", post(txn))
        .route("/status", get(status))
        .with_state(state)
}

/// Body of `PUT /kv/{key}`.
#[derive(Debug, Deserialize)]
struct PutBody {
    value: Value,
}

/// Body of `POST /kv/{key}/cas`.
#[derive(Debug, Deserialize)]
struct CasBody {
    from: Value,
    to: Value,
}

fn error(code: StatusCode, body: Value) -> Response {
    (code, Json(body)).into_response()
}

/// Maps a refusal to the documented status code; `uri` is the request's path for redirects.
fn refused(state: &ApiState, refusal: Refusal, uri: &axum::http::Uri) -> Response {
    match refusal {
        Refusal::NotLeader { leader: Some(l) } => match state.peer_http.get(&l) {
            Some(addr) => {
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let location = format!("http://{addr}{path}");
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, location.clone())],
                    Json(json!({"error": "not leader", "leader": l, "leader_url": location})),
                )
                    .into_response()
            }
            None => error(
                StatusCode::MISDIRECTED_REQUEST,
                json!({"error": "not leader", "leader": l}),
            ),
        },
        Refusal::NotLeader { leader: None } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "no leader known", "leader": null}),
        ),
        Refusal::Busy => error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "node overloaded; request not accepted"}),
        ),
        Refusal::Stopped => error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "node is shutting down"}),
        ),
        Refusal::Indeterminate => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "leadership lost before the request applied; outcome unknown"}),
        ),
    }
}

fn timed_out(timeout: Duration) -> Response {
    error(
        StatusCode::GATEWAY_TIMEOUT,
        json!({"error": format!("no answer within {} ms; outcome unknown", timeout.as_millis())}),
    )
}

async fn get_kv(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
) -> Response {
    match tokio::time::timeout(state.timeout, state.node.read(key)).await {
        Ok(Ok(Some(value))) => Json(json!({ "value": value })).into_response(),
        Ok(Ok(None)) => error(StatusCode::NOT_FOUND, json!({"error": "key never written"})),
        Ok(Err(refusal)) => refused(&state, refusal, &uri),
        Err(_) => timed_out(state.timeout),
    }
}

async fn put_kv(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
    Json(body): Json<PutBody>,
) -> Response {
    let op = Op::Put {
        key,
        value: body.value,
    };
    match propose_at(&state, op, &uri).await {
        Ok(_) => Json(json!({"ok": true})).into_response(),
        Err(resp) => resp,
    }
}

async fn cas_kv(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
    Json(body): Json<CasBody>,
) -> Response {
    let op = Op::Cas {
        key,
        from: body.from,
        to: body.to,
    };
    match propose_at(&state, op, &uri).await {
        Ok(Outcome::CasMismatch { current }) => error(
            StatusCode::CONFLICT,
            json!({"error": "precondition failed", "current": current}),
        ),
        Ok(_) => Json(json!({"ok": true})).into_response(),
        Err(resp) => resp,
    }
}

async fn txn(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Json(ops): Json<Vec<MicroOp>>,
) -> Response {
    match propose_at(&state, Op::Txn { ops }, &uri).await {
        Ok(Outcome::Txn(done)) => Json(done).into_response(),
        Ok(Outcome::TxnAborted { reason }) => error(StatusCode::CONFLICT, json!({"error": reason})),
        Ok(other) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("unexpected outcome {other:?}")}),
        ),
        Err(resp) => resp,
    }
}

/// Proposes and maps refusals with the request's own URI (for redirects).
async fn propose_at(state: &ApiState, op: Op, uri: &axum::http::Uri) -> Result<Outcome, Response> {
    match tokio::time::timeout(state.timeout, state.node.propose(op)).await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(refusal)) => Err(refused(state, refusal, uri)),
        Err(_) => Err(timed_out(state.timeout)),
    }
}

async fn status(State(state): State<ApiState>) -> Response {
    Json(state.node.status()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(peer_http: &[(NodeId, &str)]) -> ApiState {
        // A handle whose Raft thread is gone: only the pure mapping is under test here.
        let (node, _) = NodeHandle::detached(1);
        ApiState {
            node,
            peer_http: Arc::new(
                peer_http
                    .iter()
                    .map(|(id, a)| (*id, a.to_string()))
                    .collect(),
            ),
            timeout: Duration::from_millis(100),
        }
    }

    #[test]
    fn refusals_map_to_documented_status_codes() {
        let st = state(&[(2, "127.0.0.1:9002")]);
        let uri: axum::http::Uri = "/kv/x?y=1".parse().unwrap();
        let cases = [
            (Refusal::NotLeader { leader: Some(2) }, 307),
            (Refusal::NotLeader { leader: Some(3) }, 421),
            (Refusal::NotLeader { leader: None }, 503),
            (Refusal::Busy, 503),
            (Refusal::Stopped, 503),
            (Refusal::Indeterminate, 500),
        ];
        for (i, (refusal, code)) in cases.into_iter().enumerate() {
            let resp = refused(&st, refusal, &uri);
            assert_eq!(resp.status().as_u16(), code, "case {i}");
            if code == 307 {
                assert_eq!(
                    resp.headers()[header::LOCATION],
                    "http://127.0.0.1:9002/kv/x?y=1",
                    "case {i}"
                );
            }
        }
        assert_eq!(timed_out(st.timeout).status().as_u16(), 504);
    }

    #[tokio::test]
    async fn a_request_to_a_stopped_node_is_answered_not_hung() {
        let st = state(&[]);
        let resp = get_kv(
            State(st),
            OriginalUri("/kv/a".parse().unwrap()),
            Path("a".to_string()),
        )
        .await;
        assert_eq!(resp.status().as_u16(), 503);
    }
}
