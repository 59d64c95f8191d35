import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dags', '0004_stage_breaker'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='dagrun',
            name='dagrun_one_per_template_file',
        ),
        migrations.AddField(
            model_name='dagrun',
            name='generation',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddConstraint(
            model_name='dagrun',
            constraint=models.UniqueConstraint(fields=('template', 'file', 'generation'), name='dagrun_one_per_template_file'),
        ),
        migrations.CreateModel(
            name='TemplateChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(auto_now_add=True)),
                ('actor', models.CharField(max_length=150)),
                ('action', models.CharField(default='edit', max_length=32)),
                ('changes', models.JSONField(default=list, help_text='[{what, old, new}]')),
                ('spec', models.JSONField(help_text='the template after the change (spec.to_dict)')),
                ('source', models.TextField(blank=True, help_text='the YAML or JSON as sent, comments kept')),
                ('template', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='changes', to='dags.dagtemplate')),
                ('version', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='changes', to='dags.dagversion')),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
    ]
