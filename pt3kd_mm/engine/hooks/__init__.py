from .cosine_schedule_hook import CosineScheduleHook, cosine_schedule_value
from .random_state_hook import (RandomStateHook, get_random_states, seed_worker_from_loader,
                                set_random_states)
from .resume_check_hook import ResumeCheckHook, check_resumable

__all__ = ['CosineScheduleHook', 'cosine_schedule_value', 'RandomStateHook',
           'get_random_states', 'set_random_states', 'seed_worker_from_loader',
           'ResumeCheckHook', 'check_resumable']
