//! The client HTTP API (axum). Handlers only translate HTTP to [`NodeHandle`] calls and
//! results back to status codes; all decisions live in the Raft thread.
//!
//! | request | success | other answers |
//! |---|---|---|
//! | `GET /kv/{key}` | 200 `{"value": v}` | 404 `{"error":..}` never written |
//! | `PUT /kv/{key}` `{"value": v}` | 200 `{"ok": true}` | |
//! | `POST /kv/{key}/cas` `{"from": a, "to": b}` | 200 `{"ok": true}` | 409 `{"error":"precondition failed","current":v}` |
//! | `POST /kv/{key}/incr` `{"by": n}` | 200 `{"value": new}` | 409 not an integer (changed nothing) |
//! | `POST /kv/{key}/append` `{"value": v}` | 200 `{"ok": true}` | 409 not a list (changed nothing) |
//! | `GET /scan/{prefix}` | 200 `{"values": {rest-of-key: v}}` | |
//! | `POST /txn` `[["append","x",1],["r","y",null]]` | 200 the list, reads filled in | 409 aborted (changed nothing) |
//! | `POST /transfer` `{"from": a, "to": b, "amount": n}` | 200 `{"ok": true}` | 409 insufficient funds, no such account (changed nothing) |
//! | `POST /ids` | 200 `{"id": n}` | |
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
//!
//! Reads (`GET /kv`, `GET /scan`, and a `/txn` whose micro-ops are all reads) take the
//! ReadIndex path and never enter the log; everything else is a proposal.

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
use crate::state_machine::{read_only, MicroOp, Op, Outcome, ReadAnswer, ReadQuery};

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
        .route("/kv/{key}/incr", post(incr_kv))
        .route("/kv/{key}/append", post(append_kv))
        .route("/scan/{prefix}", get(scan))
        .route("/txn", post(txn))
        .route("/transfer", post(transfer))
        .route("/ids", post(new_id))
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

/// Body of `POST /kv/{key}/incr`.
#[derive(Debug, Deserialize)]
struct IncrBody {
    by: i64,
}

/// Body of `POST /transfer`.
#[derive(Debug, Deserialize)]
struct TransferBody {
    from: String,
    to: String,
    amount: i64,
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

async fn incr_kv(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
    Json(body): Json<IncrBody>,
) -> Response {
    match propose_at(&state, Op::Incr { key, by: body.by }, &uri).await {
        Ok(Outcome::Incremented(v)) => Json(json!({ "value": v })).into_response(),
        Ok(other) => refused_outcome(other),
        Err(resp) => resp,
    }
}

async fn append_kv(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Path(key): Path<String>,
    Json(body): Json<PutBody>,
) -> Response {
    let ops = vec![MicroOp::Append(key, body.value)];
    match propose_at(&state, Op::Txn { ops }, &uri).await {
        Ok(Outcome::Txn(_)) => Json(json!({"ok": true})).into_response(),
        Ok(other) => refused_outcome(other),
        Err(resp) => resp,
    }
}

async fn transfer(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Json(body): Json<TransferBody>,
) -> Response {
    let op = Op::Transfer {
        from: body.from,
        to: body.to,
        amount: body.amount,
    };
    match propose_at(&state, op, &uri).await {
        Ok(Outcome::Transferred) => Json(json!({"ok": true})).into_response(),
        Ok(other) => refused_outcome(other),
        Err(resp) => resp,
    }
}

async fn new_id(State(state): State<ApiState>, OriginalUri(uri): OriginalUri) -> Response {
    match propose_at(&state, Op::NewId, &uri).await {
        Ok(Outcome::Id(id)) => Json(json!({ "id": id })).into_response(),
        Ok(other) => refused_outcome(other),
        Err(resp) => resp,
    }
}

async fn scan(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Path(prefix): Path<String>,
) -> Response {
    match query_at(&state, ReadQuery::Scan(prefix), &uri).await {
        Ok(ReadAnswer::Scan(values)) => Json(json!({ "values": values })).into_response(),
        Ok(other) => unexpected(&other),
        Err(resp) => resp,
    }
}

/// A rejection (409, nothing changed) or an outcome the op cannot have (500).
fn refused_outcome(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Rejected { reason } | Outcome::TxnAborted { reason } => {
            error(StatusCode::CONFLICT, json!({ "error": reason }))
        }
        other => unexpected(&other),
    }
}

fn unexpected(what: &dyn std::fmt::Debug) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"error": format!("unexpected outcome {what:?}")}),
    )
}

async fn txn(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    Json(ops): Json<Vec<MicroOp>>,
) -> Response {
    if read_only(&ops) {
        return match query_at(&state, ReadQuery::Txn(ops), &uri).await {
            Ok(ReadAnswer::Txn(done)) => Json(done).into_response(),
            Ok(other) => unexpected(&other),
            Err(resp) => resp,
        };
    }
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

/// Reads via ReadIndex and maps refusals with the request's own URI (for redirects).
async fn query_at(
    state: &ApiState,
    query: ReadQuery,
    uri: &axum::http::Uri,
) -> Result<ReadAnswer, Response> {
    match tokio::time::timeout(state.timeout, state.node.query(query)).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(refusal)) => Err(refused(state, refusal, uri)),
        Err(_) => Err(timed_out(state.timeout)),
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
