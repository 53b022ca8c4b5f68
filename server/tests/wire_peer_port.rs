//! The peer port refuses Raft calls without this cluster's id, and never tells the caller what
//! the id is: it is all a stranger would need to get past the check.

mod common;

use common::*;
use tally_proto::v1::{self, raft_client::RaftClient};
use tally_raft::net::CLUSTER_ID_KEY;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_raft_call_does_not_reveal_the_cluster_id() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let ours = node.identity().cluster_id;
    let mut c = RaftClient::connect(format!("http://{}", node.addr()))
        .await
        .unwrap();
    let wrong = format!("{:032x}", ours ^ 1);
    for sent in [None, Some(wrong.as_str()), Some("not-a-cluster-id")] {
        let mut req = tonic::Request::new(v1::VoteRequest::default());
        if let Some(v) = sent {
            req.metadata_mut()
                .insert(CLUSTER_ID_KEY, v.parse().unwrap());
        }
        let e = c.vote(req).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{sent:?}: {e:?}");
        let told = format!("{} {:?}", e.message(), e.metadata());
        for form in [
            format!("{ours:032x}"),
            format!("{ours:x}"),
            ours.to_string(),
        ] {
            assert!(
                !told.contains(&form),
                "{sent:?}: the answer reveals {form}: {told}"
            );
        }
    }
    node.shutdown().await.unwrap();
}
