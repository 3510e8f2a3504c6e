from .per_param_clip import (PerParamClipAmpOptimWrapper,
                             PerParamClipOptimWrapper)

__all__ = ['PerParamClipOptimWrapper', 'PerParamClipAmpOptimWrapper']
