from . import transforms  # noqa: F401
from .image_folder import UnlabeledImageFolder, check_image_folder, scan_images

__all__ = ['UnlabeledImageFolder', 'check_image_folder', 'scan_images']
