"""The machine a benchmark runs on, and peak memory per step."""
import gc
import os
import platform

import torch

GIB = float(1 << 30)


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return cpu_model()


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _proc_status_kib(field: str):
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc), so that the resident
    set before a step is what is live, not what the allocator cached."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes
            _LIBC = ctypes.CDLL('libc.so.6')
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


def _reset_peak_rss() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory of one step: ``start()`` before it, ``stop()`` after it
    returns bytes (or None where the platform gives no per-step peak)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == 'cuda':
            self.method = ('torch.cuda.max_memory_allocated per step, minus '
                           'the resident state of the other setup')
        elif _proc_status_kib('VmHWM') is not None and _reset_peak_rss():
            self.method = ('peak RSS growth during the step over the RSS '
                           'before it (glibc malloc_trim first, then VmHWM '
                           'reset via /proc/self/clear_refs)')
        else:
            self.method = None  # reported as null
        self._base = 0

    def start(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.method is not None:
            gc.collect()
            _malloc_trim()
            _reset_peak_rss()
            self._base = _proc_status_kib('VmRSS') or 0

    def stop(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device)
        if self.method is None:
            return None
        peak = _proc_status_kib('VmHWM')
        return None if peak is None else max(0, peak - self._base) * 1024


def state_bytes(modules, optimizers) -> int:
    """Bytes of the tensors a setup keeps between steps (parameters,
    buffers, gradients, optimiser state), each storage counted once."""
    seen, total = set(), 0

    def add(t):
        nonlocal total
        if not torch.is_tensor(t):
            return
        storage = t.untyped_storage()
        key = (storage.data_ptr(), t.device)
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()

    for module in modules:
        for p in module.parameters():
            add(p)
            add(p.grad)
        for b in module.buffers():
            add(b)
    for optimizer in optimizers:
        for state in optimizer.state.values():
            for value in state.values():
                add(value)
    return total
