//! The OTA download task: runs `http::fetch` and forwards what it sees, tagged with the
//! core's link id, to the app task, which writes the slot and tells the core.
//!
//! Refuses: judging the download (the core does) and touching the slot (`app` does,
//! through the core's slot writer, as on the device).

use plug_core::plug::LinkId;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::{AbortHandle, JoinSet};

use crate::events::Ev;
use crate::http;

/// Starts `fetch` in a task of `tasks`.
pub fn start(
    tasks: &mut JoinSet<()>,
    tx: UnboundedSender<Ev>,
    link: LinkId,
    fetch: http::Fetch,
) -> AbortHandle {
    let (etx, mut erx) = unbounded_channel();
    tasks.spawn(async move {
        let pump = async {
            while let Some(e) = erx.recv().await {
                let _ = tx.send(Ev::Ota(link, e));
            }
        };
        tokio::join!(http::fetch(fetch, etx), pump);
    })
}
