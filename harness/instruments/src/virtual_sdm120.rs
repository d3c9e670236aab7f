//! A virtual SDM120 for the simulated rig: the server half of tokio-modbus on a
//! pseudo-terminal, answering from the simulated world (the plug-sim's load, read through
//! its control channel). The harness reads it with the same driver it uses on a bench.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_modbus::server::rtu::Server;
use tokio_modbus::server::Service;
use tokio_serial::SerialStream;

use crate::reading::MeterReading;
use crate::sdm120::{regs_from_f32, ACTIVE_POWER, CURRENT, VOLTAGE};

/// Where the virtual meter reads the truth: the simulated plug's world.
#[derive(Clone)]
struct World {
    control: SocketAddr,
}

impl World {
    async fn measure(&self) -> anyhow::Result<MeterReading> {
        crate::reading::sim_world_measure(self.control).await
    }
}

struct Sdm120Service {
    address: u8,
    world: World,
    /// Registers of the last measurement, 0x0000..0x000E.
    regs: Arc<Mutex<[u16; 14]>>,
}

impl Service for Sdm120Service {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        // A meter on a shared bus ignores frames for other addresses.
        if req.slave != self.address {
            return Box::pin(async { Ok(None) });
        }
        let (world, regs) = (self.world.clone(), self.regs.clone());
        Box::pin(async move {
            let Request::ReadInputRegisters(addr, qty) = req.request else {
                return Err(ExceptionCode::IllegalFunction);
            };
            let m = world
                .measure()
                .await
                .map_err(|_| ExceptionCode::ServerDeviceFailure)?;
            let mut r = regs.lock().unwrap_or_else(|p| p.into_inner());
            for (reg, v) in [(VOLTAGE, m.volts), (CURRENT, m.amps), (ACTIVE_POWER, m.watts)] {
                let [hi, lo] = regs_from_f32(v as f32);
                r[usize::from(reg)] = hi;
                r[usize::from(reg) + 1] = lo;
            }
            let (start, end) = (usize::from(addr), usize::from(addr) + usize::from(qty));
            if end > r.len() || qty == 0 {
                return Err(ExceptionCode::IllegalDataAddress);
            }
            Ok(Some(Response::ReadInputRegisters(r[start..end].to_vec())))
        })
    }
}

/// A running virtual meter; the port path is what a rig file would name.
pub struct VirtualSdm120 {
    pub path: String,
    task: JoinHandle<()>,
    _slave: SerialStream,
}

impl Drop for VirtualSdm120 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VirtualSdm120 {
    /// Serves at Modbus `address` on a new pty, measuring the plug-sim behind `control`.
    pub fn start(control: SocketAddr, address: u8) -> anyhow::Result<VirtualSdm120> {
        let (master, path, slave) = crate::pty::pair()?;
        let service = Sdm120Service {
            address,
            world: World { control },
            regs: Arc::new(Mutex::new([0; 14])),
        };
        let task = tokio::spawn(async move {
            let _ = Server::new(master).serve_forever(Arc::new(service)).await;
        });
        Ok(VirtualSdm120 {
            path,
            task,
            _slave: slave,
        })
    }
}
