from .frozen_module_constructor import FrozenModuleOptimWrapperConstructor
from .per_param_clip import (PerParamClipAmpOptimWrapper,
                             PerParamClipOptimWrapper)

__all__ = [
    'FrozenModuleOptimWrapperConstructor', 'PerParamClipOptimWrapper',
    'PerParamClipAmpOptimWrapper'
]
