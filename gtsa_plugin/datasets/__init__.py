from . import transforms  # noqa: F401
from .image_folder import UnlabeledImageFolder, check_image_folder, scan_images
from .inat import INat2019

__all__ = ['INat2019', 'UnlabeledImageFolder', 'check_image_folder',
           'scan_images']
