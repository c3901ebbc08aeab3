import pytest

from ptelab.arch import ARCHES, boot
from ptelab.mm.kernel import Kernel
from ptelab.mm.mmap import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, vm_mmap

ALL_ARCHES = list(ARCHES)


@pytest.fixture(params=ALL_ARCHES)
def arch_name(request):
    return request.param


@pytest.fixture
def kernel(arch_name):
    return Kernel(boot(arch_name, cpus=2, pages=512))


def anon_region(kernel, pages=4):
    mm = kernel.new_mm()
    addr = vm_mmap(mm, 0, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    return mm, addr
