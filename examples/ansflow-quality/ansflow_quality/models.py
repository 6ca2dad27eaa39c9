"""The plugin's table: one coverage report per row, in a project, maybe of a pipeline."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ansflow_pyramid.db import Base, TimestampMixin


class CoverageReport(TimestampMixin, Base):
    __tablename__ = "quality_coverage_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Foreign keys into two other plugins' tables: the migration depends on their
    # branches (``ansflow revision`` records that).
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    pipeline_id: Mapped[int | None] = mapped_column(
        ForeignKey("pipelines.id", ondelete="SET NULL"), default=None, index=True
    )
    branch: Mapped[str] = mapped_column(String(200), default="main")
    #: Covered lines per ten thousand (integers compare exactly on every database).
    coverage_basis_points: Mapped[int] = mapped_column(default=0)
    threshold_basis_points: Mapped[int] = mapped_column(default=8000)
    passed: Mapped[bool] = mapped_column(default=False)
