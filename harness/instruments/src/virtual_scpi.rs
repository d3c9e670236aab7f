//! A virtual SCPI power analyzer on loopback TCP: it accepts the setup command and answers
//! `*IDN?` and the value query from a measurement source.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::reading::MeterReading;
use crate::scpi_analyzer::QUERY;

/// Where the virtual analyzer reads the truth (an error answers NAN, as an analyzer with no
/// input would).
pub type Source = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<MeterReading>> + Send + Sync>;

pub struct VirtualScpi {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for VirtualScpi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VirtualScpi {
    pub async fn start(source: Source) -> anyhow::Result<VirtualScpi> {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let source = source.clone();
                tokio::spawn(async move {
                    let (r, mut w) = s.into_split();
                    let mut lines = BufReader::new(r).lines();
                    while let Ok(Some(cmd)) = lines.next_line().await {
                        let cmd = cmd.trim().to_ascii_uppercase();
                        let reply = if cmd == "*IDN?" {
                            Some("PLUGRIG,VIRTUAL-WT310,0,1.0".to_string())
                        } else if cmd == QUERY {
                            match source().await {
                                Ok(m) => Some(format!("{:.4E},{:.4E},{:.4E}", m.volts, m.amps, m.watts)),
                                Err(_) => Some("NAN,NAN,NAN".to_string()),
                            }
                        } else {
                            None
                        };
                        if let Some(r) = reply {
                            if w.write_all(format!("{r}\n").as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Ok(VirtualScpi { addr, task })
    }
}
