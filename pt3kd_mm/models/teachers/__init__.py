from .base_teacher import ConfigModelTeacher, FrozenTeacher

__all__ = ['ConfigModelTeacher', 'FrozenTeacher']
