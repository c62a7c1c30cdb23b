"""Lightning datamodules for the paper's data: Gaussian clusters under a linear teacher, MNIST-format pairs."""

from .linear_teacher import LinearTeacherDataModule

__all__ = ["LinearTeacherDataModule"]
