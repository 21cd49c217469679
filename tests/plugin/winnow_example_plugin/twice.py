"""Registers a stage name winnow already has: an error naming both classes."""

from winnow.stages.base import RowStage, register


@register
class Pii(RowStage):
    name = "pii"
