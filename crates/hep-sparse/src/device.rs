//! Device selection with a probe: CUDA when it is compiled in and usable, otherwise the CPU with
//! a message saying why.

use candle_core::Device;

/// The device to run on and, when the CPU was chosen instead of CUDA, the reason.
#[derive(Debug, Clone)]
pub struct DeviceChoice {
    /// The selected device.
    pub device: Device,
    /// Why CUDA was not used (`None` when CUDA was selected or not asked for).
    pub fallback_reason: Option<String>,
}

/// Picks CUDA device `ordinal` when `prefer_cuda` is set and it can be opened, else the CPU.
///
/// The probe never panics: cudarc panics (rather than erring) when the driver library cannot
/// be loaded, so context creation runs under `catch_unwind`. Without the `cuda` feature the
/// CPU is returned with the reason "built without the `cuda` feature".
pub fn select_device(prefer_cuda: bool, ordinal: usize) -> DeviceChoice {
    if !prefer_cuda {
        return DeviceChoice {
            device: Device::Cpu,
            fallback_reason: None,
        };
    }
    match probe_cuda(ordinal) {
        Ok(device) => DeviceChoice {
            device,
            fallback_reason: None,
        },
        Err(reason) => DeviceChoice {
            device: Device::Cpu,
            fallback_reason: Some(format!("CUDA unavailable, falling back to CPU: {reason}")),
        },
    }
}

#[cfg(feature = "cuda")]
fn probe_cuda(ordinal: usize) -> Result<Device, String> {
    let attempt = std::panic::catch_unwind(|| Device::new_cuda(ordinal));
    match attempt {
        Ok(Ok(dev)) => Ok(dev),
        // candle appends a backtrace to some errors; the first line is the reason
        Ok(Err(e)) => Err(e.to_string().lines().next().unwrap_or_default().to_string()),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "CUDA initialisation panicked".to_string())),
    }
}

#[cfg(not(feature = "cuda"))]
fn probe_cuda(_ordinal: usize) -> Result<Device, String> {
    Err("built without the `cuda` feature".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_when_not_asked_and_reason_when_unavailable() {
        let c = select_device(false, 0);
        assert!(c.device.is_cpu());
        assert!(c.fallback_reason.is_none());
        let c = select_device(true, 0);
        if cfg!(feature = "cuda") {
            // With a GPU: CUDA and no reason; without: CPU and a reason.
            assert_eq!(c.device.is_cuda(), c.fallback_reason.is_none());
        } else {
            assert!(c.device.is_cpu());
            let reason = c.fallback_reason.expect("a reason");
            assert!(reason.contains("without the `cuda` feature"), "{reason}");
        }
    }
}
