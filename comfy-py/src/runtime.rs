//! How a native call answers: as an asyncio awaitable (the Rust future runs on the shared tokio
//! runtime; cancelling the Python future drops it), or blocking with the GIL released (never
//! from inside a running event loop, and Ctrl-C still interrupts the wait).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::{IntoPyObjectExt, intern};

use crate::error::Failure;

/// Whether the objects of one client answer with awaitables or block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every call returns an asyncio awaitable (`comfy_rs.AsyncClient`).
    Async,
    /// Every call blocks, the GIL released (`comfy_rs.Client`).
    Blocking,
}

impl Mode {
    /// The mode of a client built with `blocking=`.
    pub fn new(blocking: bool) -> Mode {
        if blocking { Mode::Blocking } else { Mode::Async }
    }
}

/// Rust futures started for Python awaitables that have not finished or been dropped yet.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts one future in flight until dropped (whether it finished or was cancelled).
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many Rust futures behind asyncio awaitables are still alive (tests check that a
/// cancelled Python task drops its Rust future).
#[pyfunction]
pub fn _in_flight() -> usize {
    IN_FLIGHT.load(Ordering::SeqCst)
}

/// The shared tokio runtime (pyo3-async-runtimes' multi-threaded one).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// A result and the error to raise instead, converted to Python under the GIL (so the error
/// classes defined in Python can be used from futures that run without it).
pub struct Answer<T>(Result<T, Failure>);

impl<'py, T: IntoPyObject<'py>> IntoPyObject<'py> for Answer<T> {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.0 {
            Ok(value) => value.into_bound_py_any(py),
            Err(failure) => Err(failure.into_pyerr(py)),
        }
    }
}

/// Runs `fut` the way `mode` says: an awaitable (async) or its value (blocking).
pub fn resolve<'py, T, F>(py: Python<'py>, mode: Mode, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    match mode {
        Mode::Async => {
            // Most calls are ready at once (a cached catalogue, the store, a finished job):
            // poll once here, the GIL released, and answer with a completed asyncio future
            // instead of a round trip through a tokio worker and the loop's self-pipe.
            let mut fut = Box::pin(fut);
            let first = {
                let _runtime = runtime().enter();
                py.detach(|| match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(answer) => Some(answer),
                    Poll::Pending => None,
                })
            };
            if let Some(answer) = first {
                return completed_future(py, Answer(answer));
            }
            let guard = InFlight::start();
            pyo3_async_runtimes::tokio::future_into_py(py, async move {
                let _guard = guard;
                Ok(Answer(fut.await))
            })
        }
        Mode::Blocking => {
            let answer = block_on(py, fut)?;
            Answer(answer).into_pyobject(py)
        }
    }
}

/// An asyncio future of the running loop that already holds `answer` (its value, or the
/// exception to raise).
fn completed_future<'py, T: IntoPyObject<'py>>(
    py: Python<'py>,
    answer: Answer<T>,
) -> PyResult<Bound<'py, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let get = GET_RUNNING_LOOP
        .get_or_try_init(py, || py.import("asyncio")?.getattr("get_running_loop").map(Bound::unbind))?;
    let future = get.bind(py).call0()?.call_method0(intern!(py, "create_future"))?;
    match answer.into_pyobject(py) {
        Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
        Err(e) => future.call_method1(intern!(py, "set_exception"), (e.into_value(py),))?,
    };
    Ok(future)
}

/// Blocks on `fut` with the GIL released. Refused inside a running asyncio event loop (it
/// would stall the loop); Ctrl-C (any pending signal handler that raises) ends the wait.
pub fn block_on<T, F>(py: Python<'_>, fut: F) -> PyResult<Result<T, Failure>>
where
    F: Future<Output = Result<T, Failure>> + Send,
    T: Send,
{
    refuse_running_loop(py)?;
    Ok(py.detach(|| {
        runtime().block_on(async move {
            let mut fut = std::pin::pin!(fut);
            loop {
                tokio::select! {
                    biased;
                    answer = &mut fut => return answer,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            return Err(Failure::Py(e));
                        }
                    }
                }
            }
        })
    }))
}

/// A clear error instead of a stalled (or deadlocked) event loop.
fn refuse_running_loop(py: Python<'_>) -> PyResult<()> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let get = GET_RUNNING_LOOP
        .get_or_try_init(py, || py.import("asyncio")?.getattr("_get_running_loop").map(Bound::unbind))?;
    if get.call0(py)?.is_none(py) {
        Ok(())
    } else {
        Err(PyRuntimeError::new_err(
            "comfy_rs.Client blocks, and this thread runs an asyncio event loop that it would stall; \
             use comfy_rs.AsyncClient (await its methods) here, or call the blocking client from \
             another thread (await asyncio.to_thread(...))",
        ))
    }
}
