from .cosine_schedule_hook import CosineScheduleHook, cosine_schedule_value

__all__ = ['CosineScheduleHook', 'cosine_schedule_value']
